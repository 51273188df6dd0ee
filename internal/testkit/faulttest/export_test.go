package faulttest

// BatchComponents is what Run does to a batch variant's components.
var BatchComponents = batchComponents
