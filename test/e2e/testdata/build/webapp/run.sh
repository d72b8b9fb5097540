#!/bin/sh
echo "$GREETING on $PORT"
echo "user $(id -u):$(id -g) in $(pwd)"
ls /srv/assets; ls /srv/www
