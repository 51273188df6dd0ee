package sqsemu

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is an error answer: typ is the error shape (__type, which the
// SDKs turn into a typed error), query the code of SQS's older query
// protocol, which the SDKs report as ErrorCode().
type apiError struct {
	status int
	typ    string
	query  string
	msg    string
}

func (e *apiError) Error() string { return e.query + ": " + e.msg }

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Query-Error", e.query+";Sender")
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + e.typ, "message": e.msg})
}

func clientError(typ, query, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: typ, query: query, msg: fmt.Sprintf(format, args...)}
}

func invalidParameter(format string, args ...any) *apiError {
	return clientError("InvalidParameterValue", "InvalidParameterValue", format, args...)
}

func missingParameter(name string) *apiError {
	return clientError("MissingParameter", "MissingParameter", "The request must contain the parameter %s.", name)
}

func noQueue() *apiError {
	return clientError("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.")
}

func invalidAttributeName(name string) *apiError {
	return clientError("InvalidAttributeName", "InvalidAttributeName", "Unknown Attribute %s.", name)
}

func invalidAttributeValue(format string, args ...any) *apiError {
	return clientError("InvalidAttributeValue", "InvalidAttributeValue", format, args...)
}

func receiptHandleInvalid(handle string) *apiError {
	return clientError("ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", "The input receipt handle %q is not a valid receipt handle.", handle)
}

func notInflight() *apiError {
	return clientError("MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", "The message referred to is not in flight.")
}

func emptyBatch() *apiError {
	return clientError("EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", "There should be at least one entry in the request.")
}

func tooManyEntries(n int) *apiError {
	return clientError("TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
		"Maximum number of entries per request are 10. You have sent %d.", n)
}

func idsNotDistinct(id string) *apiError {
	return clientError("BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id %s repeated.", id)
}

func invalidBatchEntryID(id string) *apiError {
	return clientError("InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId",
		"A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long; %q is not.", id)
}
