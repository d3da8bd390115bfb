# The two commands in the README's Quick start. The work is in scripts/ so
# it can be read (and run) without make.
.PHONY: run test

run:
	@bash scripts/run.sh

test:
	@bash scripts/test.sh
