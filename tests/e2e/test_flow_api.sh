#!/usr/bin/env bash
# The Flow IO examples through the C API (fh_flow): see tools/fh_flow_api.c.
. "$(dirname "$0")/lib.sh"
FLOWHOST_BIN=$FLOWHOST "$TOOLS/fh_flow_api" "$FLOWS"
