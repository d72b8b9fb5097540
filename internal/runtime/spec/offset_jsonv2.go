//go:build goexperiment.jsonv2

package spec

// syntaxErrorSkew is how far past the offending byte encoding/json's
// SyntaxError.Offset points: on top of json/v2 it is the byte's own offset.
const syntaxErrorSkew = 0
