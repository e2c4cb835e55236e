// Command cognito-pretoken is the Cognito Pre Token Generation Lambda (provided.al2023
// runtime; `make lambda` builds bin/cognito-pretoken.zip). The work is in package pretoken.
package main

import (
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/pretoken"
)

// handler is what the Lambda runs; the end-to-end test runs the same.
var handler = pretoken.Handler{Log: slog.New(slog.NewJSONHandler(os.Stderr, nil))}.Invoke

func main() { lambda.Start(handler) }
