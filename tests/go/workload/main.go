// The AWS SDK for Go v2 workload of tests/integration/go_sdk.rs: clients built the way users
// build them (`config.LoadDefaultConfig` and `s3.NewFromConfig`: no endpoint, no proxy setting,
// no CA in code). It is run under `tollgate run`, which must see every call through HTTPS_PROXY
// and be trusted through the environment alone.
//
//	workload            the SDK's default HTTP client
//	workload -custom    the program's own *http.Client (config.WithHTTPClient), as many Go
//	                    services pass one for their timeouts
//
// Ground truth: a middleware counts each HTTP attempt (the deserialize step runs once per
// attempt, inside the retry loop) and each logical call (the initialize step), by service and
// operation. The counts are printed as the last line of stdout, as JSON.
//
// It is built offline against Debian's golang-github-aws-aws-sdk-go-v2-dev (GOPATH mode).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go/middleware"
)

type counter struct {
	mu       sync.Mutex
	attempts map[string]int
	calls    map[string]int
}

func (c *counter) add(into map[string]int, ctx context.Context) {
	key := strings.ToLower(awsmiddleware.GetServiceID(ctx)) + "." + awsmiddleware.GetOperationName(ctx)
	c.mu.Lock()
	into[key]++
	c.mu.Unlock()
}

// The service IDs of the Go SDK, lower-cased, are tollgate's service names for these three.
func (c *counter) install(stack *middleware.Stack) error {
	if err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("tollgateTestCountCalls",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			c.add(c.calls, ctx)
			return next.HandleInitialize(ctx, in)
		}), middleware.After); err != nil {
		return err
	}
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("tollgateTestCountAttempts",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			c.add(c.attempts, ctx)
			return next.HandleDeserialize(ctx, in)
		}), middleware.After)
}

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "go workload: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func main() {
	custom := flag.Bool("custom", false, "use the program's own *http.Client")
	flag.Parse()
	ctx := context.Background()
	counts := &counter{attempts: map[string]int{}, calls: map[string]int{}}

	options := []func(*config.LoadOptions) error{
		config.WithAPIOptions([]func(*middleware.Stack) error{counts.install}),
	}
	if *custom {
		options = append(options, config.WithHTTPClient(&http.Client{Timeout: 60 * time.Second}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, options...)
	must(err, "LoadDefaultConfig")

	runS3(ctx, cfg)
	runDynamoDB(ctx, cfg)
	runSQS(ctx, cfg)

	fmt.Fprintln(os.Stderr, "go workload: ok")
	out, err := json.Marshal(map[string]interface{}{
		"go":         runtime.Version(),
		"custom":     *custom,
		"operations": counts.attempts,
		"calls":      counts.calls,
	})
	must(err, "json")
	fmt.Println(string(out))
}

func runS3(ctx context.Context, cfg aws.Config) {
	client := s3.NewFromConfig(cfg)
	bucket := aws.String("tollgate-go-bucket")
	_, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: bucket})
	must(err, "CreateBucket")

	// Eight goroutines at once, over one client.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for worker := 0; worker < 8; worker++ {
		wg.Add(1)
		go func(worker int) {
			defer wg.Done()
			for i := 0; i < 2; i++ {
				key := fmt.Sprintf("small/%d-%d.txt", worker, i)
				_, err := client.PutObject(ctx, &s3.PutObjectInput{
					Bucket: bucket, Key: aws.String(key), Body: strings.NewReader("hello " + key),
				})
				errs <- err
			}
		}(worker)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(err, "PutObject")
	}

	// A multipart upload of three parts by the transfer manager.
	uploader := manager.NewUploader(client, func(u *manager.Uploader) { u.PartSize = 5 << 20 })
	_, err = uploader.Upload(ctx, &s3.PutObjectInput{
		Bucket: bucket, Key: aws.String("big/blob.bin"),
		Body: bytes.NewReader(bytes.Repeat([]byte("x"), 11<<20)),
	})
	must(err, "Upload")

	pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: bucket, MaxKeys: 5})
	for pages.HasMorePages() {
		_, err := pages.NextPage(ctx)
		must(err, "ListObjectsV2")
	}
	_, err = client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("small/0-0.txt")})
	must(err, "HeadObject")
	got, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: bucket, Key: aws.String("small/0-1.txt")})
	must(err, "GetObject")
	// Read it, as a program that gets an object does: closing an unread body makes Go drop the
	// connection mid-response, which tollgate rightly reports as an interrupted response (and
	// whether the few bytes were sent first is a race).
	_, err = io.Copy(io.Discard, got.Body)
	must(err, "GetObject body")
	got.Body.Close()
	_, err = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: aws.String("small/0-0.txt")})
	must(err, "DeleteObject")
	// The one 404 of the workload: the key is gone.
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: aws.String("small/0-0.txt")}); err == nil {
		must(fmt.Errorf("the deleted key is still there"), "HeadObject")
	}
}

func runDynamoDB(ctx context.Context, cfg aws.Config) {
	client := dynamodb.NewFromConfig(cfg)
	table := aws.String("tollgate-go-table")
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            table,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		BillingMode:          ddbtypes.BillingModePayPerRequest,
	})
	must(err, "CreateTable")
	waiter := dynamodb.NewTableExistsWaiter(client)
	must(waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: table}, time.Minute), "TableExists")

	// 1,500-byte items: two write units each on AWS, whatever an emulator reports.
	padding := strings.Repeat("p", 1500)
	for i := 0; i < 3; i++ {
		_, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: fmt.Sprintf("put-%d", i)},
			"v":  &ddbtypes.AttributeValueMemberS{Value: padding},
		}})
		must(err, "PutItem")
	}
	var writes []ddbtypes.WriteRequest
	for i := 0; i < 25; i++ {
		writes = append(writes, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: fmt.Sprintf("batch-%02d", i)},
			"v":  &ddbtypes.AttributeValueMemberS{Value: padding},
		}}})
	}
	_, err = client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{
		RequestItems:           map[string][]ddbtypes.WriteRequest{*table: writes},
		ReturnConsumedCapacity: ddbtypes.ReturnConsumedCapacityTotal,
	})
	must(err, "BatchWriteItem")
	_, err = client.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: map[string]ddbtypes.AttributeValue{
		"pk": &ddbtypes.AttributeValueMemberS{Value: "put-0"},
	}})
	must(err, "GetItem")
	_, err = client.Scan(ctx, &dynamodb.ScanInput{TableName: table, Limit: aws.Int32(100)})
	must(err, "Scan")
}

func runSQS(ctx context.Context, cfg aws.Config) {
	client := sqs.NewFromConfig(cfg)
	created, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("tollgate-go-queue")})
	must(err, "CreateQueue")
	url, err := client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("tollgate-go-queue")})
	must(err, "GetQueueUrl")
	if aws.ToString(url.QueueUrl) != aws.ToString(created.QueueUrl) {
		must(fmt.Errorf("%s != %s", aws.ToString(url.QueueUrl), aws.ToString(created.QueueUrl)), "GetQueueUrl")
	}
	for i := 0; i < 4; i++ {
		_, err := client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: created.QueueUrl, MessageBody: aws.String(fmt.Sprintf("message %d", i))})
		must(err, "SendMessage")
	}
	received, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, MaxNumberOfMessages: 10})
	must(err, "ReceiveMessage")
	for _, message := range received.Messages {
		_, err := client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: created.QueueUrl, ReceiptHandle: message.ReceiptHandle})
		must(err, "DeleteMessage")
	}
}
