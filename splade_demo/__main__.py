"""`python -m splade_demo`: the command-line interface."""

from splade_demo.cli import main

raise SystemExit(main())
