'use strict'
// fastify + @fastify/http-proxy (undici pool) proxying /pets/* and /large to the backend, logger off.
// Run by the bench as one Node process, with NODE_PATH pointing at the npm cache outside the repo.

const fastify = require('fastify')({ logger: false, bodyLimit: 8 * 1024 * 1024 })

const port = Number(process.env.PORT)
const host = process.env.BENCH_HOST || '127.0.0.1'
const pool = Number(process.env.BENCH_POOL || '128')

fastify.register(require('@fastify/http-proxy'), {
  upstream: process.env.BENCH_UPSTREAM,
  prefix: '/pets',
  rewritePrefix: '/pets',
  undici: { connections: pool, pipelining: 1 }
})

fastify.register(require('@fastify/http-proxy'), {
  upstream: process.env.BENCH_UPSTREAM,
  prefix: '/large',
  rewritePrefix: '/large',
  undici: { connections: pool, pipelining: 1 }
})

fastify.listen({ port, host }).catch((err) => {
  console.error(err)
  process.exit(1)
})
