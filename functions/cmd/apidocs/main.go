// Command apidocs writes docs/api.md from hasura/metadata (`make docs`).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/apidocs"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/contract"
	"github.com/kaiser-kitchen/loyalty-point-backend/hasura"
)

func main() {
	out := flag.String("o", "docs/api.md", "file to write")
	flag.Parse()
	m, err := contract.Load(hasura.Metadata())
	if err == nil {
		var b []byte
		if b, err = apidocs.Render(m); err == nil {
			err = os.WriteFile(*out, b, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "apidocs:", err)
		os.Exit(1)
	}
}
