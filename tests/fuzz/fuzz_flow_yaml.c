/* Fuzzes the flow YAML loader (host/flow_config.c, host/flow_yaml.c): any bytes as a
 * flow file. Relative paths resolve against /tmp; executor YAML files it names are read
 * if they exist, as a real load would. */
#include <stddef.h>
#include <stdint.h>

#include "flow_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fh_flow_config *cfg = NULL;
    if (fh_flow_config_parse((const char *)data, size, "fuzz.yml", "/tmp", &cfg) == 0)
        fh_flow_config_destroy(&cfg);
    return 0;
}
