package generator

// ErrPanicked lets the tests tell a recovered panic from another error.
var ErrPanicked = errPanicked
