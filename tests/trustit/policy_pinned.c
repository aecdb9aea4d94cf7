/* Trust policy of the `pinned` image: accept only the peer whose MRENCLAVE
 * the build measured (the `peer` image). */
#include <eactors/ea_trust.h>

#include "pinned_mrenclave.h"

EA_TRUST_POLICY(.require = EA_REQUIRE_MRENCLAVE, .mr_enclave = {PINNED_MRENCLAVE});
