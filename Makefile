# todolist: `make run` to develop, `make test` to check everything.
SHELL := /bin/bash
BACKEND := backend
SERVER := $(BACKEND)/.build/debug/todolist-server
PYTEST := python3 -m pytest -p no:cacheprovider

.PHONY: run test build deps deps-test backend backend-release backend-test http-test fuzz-test fuzz frontend-test frontend-build e2e-test \
        migrate seed bench soak soak-test clean-data help

help:
	@echo "make run    install what is missing, start the API on :8000 and the web app on :3000"
	@echo "make test   unit, HTTP (SQLite and PostgreSQL), frontend and browser tests"
	@echo "make build  release backend binary and frontend/dist"
	@echo "make bench  benchmarks (see docs/performance.md)"
	@echo "make seed   DATABASE_URL=... : 10,000 users, 1,000,000 todos, 100,000 sessions (bench/seed.py)"
	@echo "make fuzz   schema fuzzing, longer than in make test (FUZZ_MAX_EXAMPLES, FUZZ_SEED=random)"
	@echo "make soak   60 s of mixed traffic at 128 connections: no errors, no memory growth"

deps:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test

backend:
	cd $(BACKEND) && swift build --product todolist-server

backend-release:
	cd $(BACKEND) && swift build -c release --product todolist-server

run: deps backend
	@scripts/run-dev.sh

migrate: backend
	$(SERVER) migrate

# Issue 13's data at scale into the database DATABASE_URL names (it must hold no users):
# 10,000 users, 1,000,000 todos, 100,000 sessions (bench/seed.py; --help for other sizes).
seed: backend
	python3 bench/seed.py --server $(SERVER) $(SEED_ARGS)

build: deps backend-release
	$(MAKE) -C frontend build

test: deps-test backend-test http-test fuzz-test soak-test frontend-test e2e-test

backend-test:
	cd $(BACKEND) && swift build --build-tests
	cd $(BACKEND) && python3 Tests/with_postgres.py swift test --skip-build

http-test:
	$(PYTEST) $(BACKEND)/Tests/HTTP -q

# Schemathesis against the real server, driven by docs/openapi.yaml (fuzz/test_schema_fuzz.py):
# a fixed seed and few examples here; `make fuzz` runs longer with a random seed.
fuzz-test:
	$(PYTEST) fuzz -q

fuzz: deps-test
	cd $(BACKEND) && swift build --product todolist-server
	FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-150} FUZZ_SEED=$${FUZZ_SEED:-random} $(PYTEST) fuzz -q -s

# Mixed traffic against the debug server: 0 errors, RSS growth <= 10 % (bench/soak.py).
soak-test: backend
	python3 bench/soak.py --duration 12 --connections 64 --databases $${TODOLIST_TEST_DATABASES:-sqlite,postgres}

soak: backend
	python3 bench/soak.py --duration 60 --connections 128 --databases $${TODOLIST_TEST_DATABASES:-sqlite,postgres}

frontend-test:
	$(MAKE) -C frontend test

frontend-build:
	$(MAKE) -C frontend build

e2e-test: backend frontend-build
	$(PYTEST) e2e -q

bench:
	@scripts/install-deps.sh bench
	@bench/run.sh
