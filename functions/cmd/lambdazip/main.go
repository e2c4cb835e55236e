// Command lambdazip writes a reproducible Lambda deployment package (make lambda uses it
// rather than the zip tool, whose output carries the files' times and owners):
//
//	lambdazip -o bin/cognito-pretoken.zip bin/cognito-pretoken/bootstrap
//
// Each file goes in under its base name, in the order given.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/lambdazip"
)

func main() {
	out := flag.String("o", "", "the zip to write (required)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: lambdazip -o OUT.zip FILE...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "lambdazip:", err)
		os.Exit(1)
	}
}

func run(out string, paths []string) error {
	var files []lambdazip.File
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, lambdazip.File{Name: filepath.Base(p), Data: data})
	}
	var buf bytes.Buffer
	if err := lambdazip.Write(&buf, files); err != nil {
		return err
	}
	// Written beside and renamed, so a failed run leaves no half zip to deploy.
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
