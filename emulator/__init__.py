"""CPE's offline SWF+SQS emulator: moto's models, fixed to behave like AWS under concurrency."""
