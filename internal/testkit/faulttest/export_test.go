package faulttest

// BatchComponents is what Run does to a batch variant's components.
var BatchComponents = batchComponents

// ReportLine is the line Run logs for programs to read.
var ReportLine = reportLine
