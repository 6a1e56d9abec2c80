/* flowhost — everything of the SDK in one include. */
#ifndef FLOWHOST_H
#define FLOWHOST_H
#include <flowhost/client.h>
#include <flowhost/docstore.h>
#include <flowhost/document.h>
#include <flowhost/error.h>
#include <flowhost/executor.h>
#include <flowhost/flow.h>
#include <flowhost/json.h>
#include <flowhost/keys.h>
#include <flowhost/source.h>
#include <flowhost/value.h>
#endif
