# Every target does its own set-up on a fresh machine (tools/bootstrap, cached between runs).
.PHONY: demo test bench docs shell
demo:
	tools/dev demo
test:
	tools/dev test
bench:
	tools/dev bench
docs:
	tools/dev docs
shell:
	tools/dev shell
