#!/bin/sh
# Harness self-test: a test that never finishes.
echo "hanging on purpose"
sleep 100000
