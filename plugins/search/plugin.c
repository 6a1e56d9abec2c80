/* The search plugin: two executor types, declared in encoder.c and indexer.c. */
#include "search.h"

FH_PLUGIN(NgramEncoder, CosineIndexer);
