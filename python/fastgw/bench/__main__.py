from fastgw.bench.cli import main

raise SystemExit(main())
