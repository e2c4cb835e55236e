package ctl

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/images"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/telemetry/awstrace"
)

// ImagesUploadOptions are the flags and dependencies of images upload.
type ImagesUploadOptions struct {
	F    *Factory
	Dir  string
	Kind images.Kind
	JSON bool
}

func NewCmdImagesUpload(f *Factory, runF func(context.Context, *ImagesUploadOptions) error) *cobra.Command {
	opts := &ImagesUploadOptions{F: f}
	var kind string
	cmd := &cobra.Command{
		Use:   "upload DIR --kind rewards|stores",
		Short: "Upload reward or store images to S3 and set image_url",
		Long: `Uploads each image of DIR (<reward id>.<ext> or <store code>.<ext>; png, jpg, webp, gif) to
S3_BUCKET as <rewards|stores>/<name>-<sha256>.<ext>, with its content type, and sets image_url
to IMAGES_BASE_URL/<key> (default: S3_ENDPOINT/S3_BUCKET, or the bucket's AWS address). A file
S3 already holds is not uploaded again. An object is never overwritten, so a run that fails
part-way leaves every live image as it was. Every file is checked first (type, name, a row to
attach it to): any problem is listed and nothing is uploaded.`,
		Example: "  loyaltyctl images upload data/images/rewards --kind rewards",
		Args:    exactArgs(1, "one DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = args[0]
			switch images.Kind(kind) {
			case images.Rewards, images.Stores:
				opts.Kind = images.Kind(kind)
			default:
				return flagErrorf("--kind must be rewards or stores, not %q", kind)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return imagesUploadRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "rewards or stores (required)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the files as JSON")
	return cmd
}

func (opts *ImagesUploadOptions) client(ctx context.Context) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(opts.F.Getenv("AWS_REGION")))
	if err != nil {
		return nil, err
	}
	// A client span per call, child of the run's, and the trace context sent along.
	awstrace.Append(&cfg.APIOptions, awstrace.Options{TracerProvider: opts.F.TracerProvider})
	endpoint := opts.F.Getenv("S3_ENDPOINT")
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			// An S3-compatible store (MinIO, a test double) by path, with checksums only
			// where S3 requires them, which such stores all understand.
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	}), nil
}

func imagesUploadRun(ctx context.Context, opts *ImagesUploadOptions) error {
	getenv := opts.F.Getenv
	bucket := getenv("S3_BUCKET")
	if bucket == "" || getenv("AWS_REGION") == "" {
		return &Error{Code: "config", Message: "S3_BUCKET and AWS_REGION must be set (and S3_ENDPOINT for a store other than AWS)"}
	}
	base := getenv("IMAGES_BASE_URL")
	if base == "" {
		if e := getenv("S3_ENDPOINT"); e != "" {
			base = strings.TrimRight(e, "/") + "/" + bucket
		} else {
			base = fmt.Sprintf("https://%s.s3.%s.amazonaws.com", bucket, getenv("AWS_REGION"))
		}
	}
	client, err := opts.client(ctx)
	if err != nil {
		return err
	}
	db, err := opts.F.DB(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	u := images.Uploader{S3: client, Bucket: bucket, BaseURL: base, DB: db}
	files, err := u.Scan(ctx, opts.Dir, opts.Kind)
	if err != nil {
		return err
	}
	bar := progress(opts.F.IO, len(files), "uploading "+string(opts.Kind))
	err = u.Upload(ctx, opts.Kind, files, func() { _ = bar.Add(1) })
	_ = bar.Finish()
	if err != nil {
		return err
	}
	if opts.JSON {
		if files == nil {
			files = []*images.File{}
		}
		return writeJSON(opts.F.IO.Out, files)
	}
	rows := make([][]string, len(files))
	uploaded := 0
	for i, f := range files {
		state := "unchanged"
		if f.Uploaded {
			state, uploaded = "uploaded", uploaded+1
		}
		rows[i] = []string{f.Name, state, f.Key, f.URL}
	}
	if err := table(opts.F.IO.Out, []string{"NAME", "STATE", "KEY", "IMAGE_URL"}, rows); err != nil {
		return err
	}
	fprintf(opts.F.IO.Out, "%d files: %d uploaded, %d unchanged\n", len(files), uploaded, len(files)-uploaded)
	return nil
}
