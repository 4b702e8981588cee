// Small helpers shared by the example server and client: file loading,
// argument parsing and the demo's pre-shared key.
#ifndef QDTLS_EXAMPLES_COMMON_HPP
#define QDTLS_EXAMPLES_COMMON_HPP

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace demo {

// Qt's DTLS examples use a fixed key known to both sides; so do we.
inline const std::string preSharedKey = "\x1a\x2b\x3c\x4d\x5e\x6f";

inline std::string readFile(const std::string &path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// "--name value" pairs into a map; a flag without value maps to "1".
inline std::map<std::string, std::string> parseArgs(int argc, char **argv) {
    std::map<std::string, std::string> args;
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], "--", 2) != 0)
            continue;
        const char *key = argv[i] + 2;
        bool hasValue = i + 1 < argc && std::strncmp(argv[i + 1], "--", 2) != 0;
        if (hasValue)
            ++i;
        args[key] = hasValue ? argv[i] : "1";
    }
    return args;
}

inline std::string arg(const std::map<std::string, std::string> &a, const char *k, const char *dflt) {
    auto it = a.find(k);
    return it == a.end() ? dflt : it->second;
}

} // namespace demo

#endif
