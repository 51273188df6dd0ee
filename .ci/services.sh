#!/usr/bin/env bash
# Starts the local services the tests use, each only if its port is closed.
# The commands are the machine's own (see DEVELOPERS.md). Idempotent.
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # name port seconds
  for _ in $(seq 1 "$3"); do port_open "$2" && return 0; sleep 1; done
  echo "services: $1 did not come up on port $2" >&2
  return 1
}

start() { # name port command...
  local name=$1 port=$2; shift 2
  if port_open "$port"; then echo "services: $name up on :$port"; return 0; fi
  echo "services: starting $name"
  "$@" >/dev/null 2>&1 || echo "services: '$*' exited $?" >&2
  wait_port "$name" "$port" 60
}

status=0
start postgresql 5432 bash -c 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start' || status=1
start redis 6379 redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
  --dir /var/lib/redis --logfile /var/log/redis/ci.log || status=1
start rabbitmq 5672 rabbitmq-server -detached || status=1
start mosquitto 1883 mosquitto -d -c /etc/mosquitto/mosquitto.conf || status=1
start nats 4222 start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
  -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || status=1
start mariadb 3306 start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || status=1
exit $status
