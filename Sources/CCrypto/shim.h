// OpenSSL's libcrypto (Debian: libssl-dev, pkg-config name "libcrypto"): MAMLHost
// hashes plugin files with SHA-256 through the EVP digest interface for trust
// pinning; MAMLTasks fingerprints image folders with the one-shot SHA256(). The
// functions import into Swift as they are.
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/sha.h>
