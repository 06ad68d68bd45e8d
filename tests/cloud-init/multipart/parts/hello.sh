#!/bin/sh
echo hello from reimage > /var/tmp/hello
