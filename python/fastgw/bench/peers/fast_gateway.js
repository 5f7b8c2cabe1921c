'use strict'
// fast-gateway (restana + fast-proxy-lite; keep-alive http.Agent) proxying /pets/* and /large to the backend.
// A route matches its prefix + pathRegex ('/*' by default): /large itself needs an empty pathRegex.
// Run by the bench as one Node process, with NODE_PATH pointing at the npm cache outside the repo.

const gateway = require('fast-gateway')

const port = Number(process.env.PORT)
const host = process.env.BENCH_HOST || '127.0.0.1'
const upstream = process.env.BENCH_UPSTREAM

const server = gateway({
  routes: [
    { prefix: '/pets', prefixRewrite: '/pets', target: upstream, methods: ['GET'] },
    { prefix: '/large', pathRegex: '', prefixRewrite: '/large', target: upstream, methods: ['GET', 'POST'] }
  ]
})

server.start(port, host)
