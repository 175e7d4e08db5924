//! Durability: `kill -9` during uploads and multipart completions loses nothing acknowledged and
//! shows nothing half-written.

use crate::harness::{TestServer, bucket_name, complete_upload, create_upload, data, upload_part};
use aws_sdk_s3::primitives::ByteStream;
use std::sync::{Arc, Mutex};

#[tokio::test]
async fn kill_9_during_writes_loses_nothing_acknowledged() {
    let mut server = TestServer::start();
    let data_dir = server.data.clone();
    let s3 = server.client();
    let bucket = bucket_name("crash");
    s3.create_bucket().bucket(&bucket).send().await.expect("create bucket");

    // Acknowledged writes: key → seed of the body the server said it stored.
    let acked: Arc<Mutex<Vec<(String, u64, usize)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut writers = Vec::new();
    for w in 0..4u64 {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        let acked = acked.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..10_000u64 {
                let key = format!("w{w}/obj{i}");
                let seed = w * 1_000_000 + i;
                let len = 1000 + ((seed * 7919) % 200_000) as usize;
                match s3.put_object().bucket(&bucket).key(&key).body(ByteStream::from(data(len, seed))).send().await {
                    Ok(_) => acked.lock().expect("lock").push((key, seed, len)),
                    Err(_) => return,
                }
            }
        }));
    }
    // A multipart upload completed while the writers run.
    let mp_key = "multipart/object".to_owned();
    let part = data(5 * 1024 * 1024, 42);
    let id = create_upload(&s3, &bucket, &mp_key).await;
    let mut parts = Vec::new();
    for n in 1..=2 {
        parts.push(upload_part(&s3, &bucket, &mp_key, &id, n, part.clone()).await);
    }
    complete_upload(&s3, &bucket, &mp_key, &id, parts).await.expect("complete");
    // Let the writers get going, then crash mid-flight.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    server.kill();
    for w in writers {
        let _ = w.await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() > 10, "writers made progress before the crash ({})", acked.len());

    let server = TestServer::start_on(&data_dir);
    let s3 = server.client();
    for (key, seed, len) in &acked {
        let got = s3.get_object().bucket(&bucket).key(key).send().await.unwrap_or_else(|e| panic!("{key} lost: {e:?}"));
        let body = got.body.collect().await.expect("body").into_bytes();
        assert_eq!(body.len(), *len, "{key}");
        assert!(body.as_ref() == data(*len, *seed).as_slice(), "{key} intact");
    }
    let got = s3.get_object().bucket(&bucket).key(&mp_key).send().await.expect("multipart survives");
    assert_eq!(got.content_length(), Some(10 * 1024 * 1024));
    // Every listed object is complete: anything not acknowledged is either whole or absent.
    let mut token = None;
    loop {
        let page = s3.list_objects_v2().bucket(&bucket).set_continuation_token(token).send().await.expect("list");
        for o in page.contents() {
            let key = o.key().expect("key");
            let got = s3.get_object().bucket(&bucket).key(key).send().await.expect("listed objects are readable");
            let len = got.content_length().expect("len");
            let body = got.body.collect().await.expect("body").into_bytes();
            assert_eq!(body.len() as i64, len, "{key} is whole");
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        token = page.next_continuation_token().map(str::to_owned);
    }
    // No leftovers of interrupted writes survive the restart sweep.
    let tmp = data_dir.join("tmp");
    let leftovers = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "temporary files were swept");
}
