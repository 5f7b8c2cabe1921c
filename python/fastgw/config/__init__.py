"""Loading API definitions and gateway config files, and compiling them for the engine."""
