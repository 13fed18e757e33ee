// OpenSSL's libcrypto (Debian: libssl-dev, pkg-config name "libcrypto"): MAMLHost
// hashes plugin files with SHA-256 through the EVP digest interface for trust
// pinning. The EVP and ERR functions MAMLHost calls import into Swift as they are.
#include <openssl/evp.h>
#include <openssl/err.h>
