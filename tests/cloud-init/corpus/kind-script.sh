#!/bin/sh
echo "hello from user data" > /tmp/hello
