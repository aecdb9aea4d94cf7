/* Control for the layer check: a "low" layer that calls into a "high" one.
 * check_layers.sh must reject this pair (test layers_control). */
int layer_control_high(void);
int layer_control_low(void);
int layer_control_low(void)
{
    return layer_control_high();
}
