#!/bin/sh
date >> /var/tmp/boots
