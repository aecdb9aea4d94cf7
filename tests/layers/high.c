/* Control for the layer check: the "high" layer low.c wrongly calls. */
int layer_control_high(void);
int layer_control_high(void)
{
    return 1;
}
