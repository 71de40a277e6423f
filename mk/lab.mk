# The end-to-end lab (test/lab): machines with systemd, sshd and dockerd in
# containers of an outer Docker engine, forming a real swarm.
#   make lab-up [LAB_NAME=e2e LAB_MANAGERS=3 LAB_WORKERS=2 LAB_LAYOUT=docker-latest]
#   make lab-status | lab-down
# `make lab-up` before `make e2e` lets the e2e suite reuse the running lab.
LAB_NAME     ?= e2e
LAB_MANAGERS ?= 3
LAB_WORKERS  ?= 2
LAB_LAYOUT   ?= docker-latest
LAB          := $(GO) run ./test/lab/cmd/lab

.PHONY: lab-up lab-down lab-status lab-deps

lab-up:
	$(LAB) up --name $(LAB_NAME) --managers $(LAB_MANAGERS) --workers $(LAB_WORKERS) --layout $(LAB_LAYOUT)

lab-down:
	$(LAB) down --name $(LAB_NAME)

lab-status:
	$(LAB) status --name $(LAB_NAME)

lab-deps:
	sudo .ci/install-lab-deps.sh
