/// A signing key the issuer cannot use: no key with the id asked for (or no current one), or
/// a new key whose public parameters cannot be read.
struct SandboxKeyError: Error, CustomStringConvertible {
    var description: String { "no such signing key" }
}
