// Package depcheck holds the test that enforces the dependency rules of
// docs/DESIGN.md by reading every non-test import in the module.
package depcheck
