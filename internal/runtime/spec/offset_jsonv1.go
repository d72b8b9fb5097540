//go:build !goexperiment.jsonv2

package spec

// syntaxErrorSkew is how far past the offending byte encoding/json's
// SyntaxError.Offset points: v1 counts the byte itself.
const syntaxErrorSkew = 1
