/* The demo's search executors: NgramEncoder (text -> vector) and CosineIndexer (a
 * docstore of documents and vectors, searched by cosine similarity). */
#ifndef FH_PLUGIN_SEARCH_H
#define FH_PLUGIN_SEARCH_H

#include <flowhost/executor.h>

FH_EXECUTOR_DECLARE(NgramEncoder);
FH_EXECUTOR_DECLARE(CosineIndexer);

#endif
