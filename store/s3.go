package store

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// s3Backend keeps objects in one bucket. A PutObject is atomic: the object
// appears whole or not at all (single PUTs take up to 5 GiB, more than any
// base model paw runs).
type s3Backend struct {
	c      *s3.Client
	bucket string
}

// newS3 configures a client the way every AWS SDK does, from the
// environment and shared files. A custom endpoint (AWS_ENDPOINT_URL, as for
// MinIO, Ceph or versitygw) gets path-style addressing, since such servers
// rarely have per-bucket DNS names.
func newS3(ctx context.Context, bucket string) (*s3Backend, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: s3 config: %w", err)
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = o.BaseEndpoint != nil
	})
	return &s3Backend{c: c, bucket: bucket}, nil
}

func (b *s3Backend) String() string { return "s3://" + b.bucket }

func (b *s3Backend) get(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := b.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil {
		if notFound(err) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("store: get s3://%s/%s: %w", b.bucket, key, err)
	}
	return out.Body, nil
}

func (b *s3Backend) put(ctx context.Context, key string, body io.ReadSeeker, size int64) error {
	_, err := b.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b.bucket, Key: &key, Body: body, ContentLength: aws.Int64(size)})
	if err != nil {
		return fmt.Errorf("store: put s3://%s/%s: %w", b.bucket, key, err)
	}
	return nil
}

func (b *s3Backend) exists(ctx context.Context, key string) (bool, error) {
	_, err := b.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &key})
	if err == nil {
		return true, nil
	}
	if notFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("store: head s3://%s/%s: %w", b.bucket, key, err)
}

// notFound reports a missing key: GetObject says NoSuchKey, HeadObject
// (which has no body) only NotFound.
func notFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var api smithy.APIError
	return errors.As(err, &nsk) || errors.As(err, &nf) ||
		(errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound"))
}
