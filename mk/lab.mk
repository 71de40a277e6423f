# The end-to-end lab (test/lab): machines with systemd, sshd and dockerd in
# containers of an outer Docker engine, forming a real swarm.
#   make lab-up [LAB_NAME=e2e LAB_MANAGERS=3 LAB_WORKERS=2 LAB_LAYOUT=docker-latest
#                LAB_ENGINE=20.10|26.1|28.5 LAB_IMAGE_STORE=classic|containerd LAB_ARGS='--worker-engine 20.10']
#   make lab-status | lab-down | lab-images
# `make lab-up` before `make e2e` lets the e2e suite reuse the running lab.
LAB_NAME        ?= e2e
LAB_MANAGERS    ?= 3
LAB_WORKERS     ?= 2
LAB_LAYOUT      ?= docker-latest
LAB_ENGINE      ?= 20.10
LAB_IMAGE_STORE ?= classic
LAB_ARGS        ?=
LAB             := $(GO) run ./test/lab/cmd/lab

.PHONY: lab-up lab-down lab-status lab-deps lab-images

lab-up:
	$(LAB) up --name $(LAB_NAME) --managers $(LAB_MANAGERS) --workers $(LAB_WORKERS) --layout $(LAB_LAYOUT) \
	  --engine $(LAB_ENGINE) --image-store $(LAB_IMAGE_STORE) $(LAB_ARGS)

lab-down:
	$(LAB) down --name $(LAB_NAME)

lab-status:
	$(LAB) status --name $(LAB_NAME)

# Builds every image the labs use (all engines), in parallel where it can.
lab-images:
	$(LAB) images --engines all

lab-deps:
	sudo .ci/install-lab-deps.sh
