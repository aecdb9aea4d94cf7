/* Control for the platform check: a layer above the platform that calls the
 * OS directly. check_layers.sh must reject it (test layers_os_control). */
#include <unistd.h>

int layer_control_oscall(void);
int layer_control_oscall(void)
{
    return (int)getpid();
}
