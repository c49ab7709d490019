#!/usr/bin/env bash
# Installs and starts everything the tests need, so that a clean clone on a
# new machine runs `make test` with nothing done by hand.
#
# - Go tools at pinned versions through the module proxy (staticcheck).
# - The engines the plugin tests talk to on loopback (DESIGN.md §7): each is
#   checked on its port and started with its usual command when it is down,
#   and installed from Debian's packages when it is missing.
set -uo pipefail

STATICCHECK_VERSION=v0.8.2

log() { printf 'test-deps: %s\n' "$*"; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		port_open "$1" && return 0
		sleep 0.1
	done
	return 1
}

apt_install() { # package...
	if ! command -v apt-get >/dev/null; then
		log "apt-get not available; cannot install $*"
		return 1
	fi
	log "installing $* from Debian's packages"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1; }
}

# engine NAME PORT BINARY PACKAGE START-COMMAND...
engine() {
	local name=$1 port=$2 bin=$3 pkg=$4
	shift 4
	if port_open "$port"; then
		log "$name up on 127.0.0.1:$port"
		return 0
	fi
	if ! command -v "$bin" >/dev/null && [ ! -x "$bin" ]; then
		apt_install "$pkg" || { log "WARNING: $name missing and could not be installed"; status=1; return; }
	fi
	log "starting $name: $*"
	"$@" >/dev/null 2>&1 || true
	if wait_port "$port" 60; then
		log "$name up on 127.0.0.1:$port"
	else
		log "WARNING: $name did not come up on 127.0.0.1:$port"
		status=1
	fi
}

status=0

# Go tools.
gobin=$(go env GOPATH)/bin
if [ -x "$gobin/staticcheck" ] && "$gobin/staticcheck" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
	log "staticcheck $STATICCHECK_VERSION present"
else
	log "installing staticcheck $STATICCHECK_VERSION"
	(cd / && GOFLAGS= go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION") || { log "ERROR: staticcheck install failed"; exit 1; }
fi

# protoc for make generate (protoc-gen-go and protoc-gen-micro are built by
# scripts/generate.sh itself, at pinned versions).
if command -v protoc >/dev/null; then
	log "protoc present ($(protoc --version))"
else
	apt_install protobuf-compiler || { log "ERROR: protoc (protobuf-compiler) could not be installed"; exit 1; }
fi

# consul has no Debian package: build the agent the consul registry
# plugin's tests start (cached outside the tree after the first build).
"$(dirname "${BASH_SOURCE[0]}")/consul.sh" || { log "WARNING: consul could not be built"; status=1; }

# Engines (DESIGN.md §7).
engine RabbitMQ 5672 rabbitmq-server rabbitmq-server rabbitmq-server -detached
engine NATS 4222 /usr/sbin/nats-server nats-server \
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
	-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
engine Redis 6379 redis-server redis-server \
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
	--dir /var/lib/redis --logfile /var/log/redis/ci.log
engine MariaDB 3306 /usr/sbin/mariadbd mariadb-server \
	start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
engine PostgreSQL 5432 pg_ctlcluster postgresql \
	bash -c 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start'
engine Mosquitto 1883 mosquitto mosquitto mosquitto -d -c /etc/mosquitto/mosquitto.conf

if [ "$status" -ne 0 ]; then
	log "some engines are not available; tests that need them skip, or fail under MICRO_TEST_REQUIRE=all"
fi
exit 0
