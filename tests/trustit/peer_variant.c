/* Makes the `peer` image's bytes (and so its MRENCLAVE) differ from
 * pingpong.so's, with the same actors and the same signer. */
__attribute__((visibility("default"))) const char ea_test_variant[] = "peer variant";
