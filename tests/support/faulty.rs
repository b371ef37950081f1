//! A provider endpoint that misbehaves at the HTTP or TCP level, in ways
//! the in-process provider cannot: it accepts connections and never
//! answers, resets them, answers HTML, bytes that are not UTF-8, or a body
//! past any sane size, or answers late. Its behaviour can be switched while
//! it runs (to show that the app recovers).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rocket::tokio::io::{AsyncReadExt, AsyncWriteExt};
use rocket::tokio::net::{TcpListener, TcpStream};

/// What every request gets.
#[derive(Clone, Debug)]
pub enum Fault {
    /// The connection is accepted and kept open; nothing is ever sent.
    NeverAnswers,
    /// The connection is reset as soon as the request has arrived.
    Reset,
    /// An answer with this status, content type and body.
    Answer {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    /// That answer, after this long.
    Late(Duration, Box<Fault>),
}

impl Fault {
    pub fn json(status: u16, body: &serde_json::Value) -> Fault {
        Fault::Answer {
            status,
            content_type: "application/json".into(),
            body: body.to_string().into_bytes(),
        }
    }

    /// Every kind of garbage a provider could send instead of JSON, with a 200.
    pub fn garbage() -> Vec<(&'static str, Fault)> {
        let answer = |content_type: &str, body: Vec<u8>| Fault::Answer {
            status: 200,
            content_type: content_type.into(),
            body,
        };
        vec![
            (
                "an HTML page",
                answer("text/html", b"<html><body>Service Unavailable</body></html>".to_vec()),
            ),
            (
                "bytes that are not UTF-8",
                answer("application/json", vec![0xff, 0xfe, b'{', 0xc3, 0x28, b'}']),
            ),
            (
                "a body of 2 MiB",
                answer("application/json", vec![b' '; 2 * 1024 * 1024]),
            ),
            (
                "JSON of the wrong shape",
                answer("application/json", b"[1, 2, 3]".to_vec()),
            ),
            ("an empty body", answer("application/json", Vec::new())),
            (
                "a 500",
                Fault::Answer {
                    status: 500,
                    content_type: "text/plain".into(),
                    body: b"oops".to_vec(),
                },
            ),
        ]
    }
}

pub struct FaultyEndpoint {
    pub port: u16,
    fault: Arc<Mutex<Fault>>,
    /// Connections kept open on purpose.
    held: Arc<Mutex<Vec<TcpStream>>>,
    accepted: Arc<Mutex<usize>>,
    heads: Arc<Mutex<Vec<String>>>,
    task: rocket::tokio::task::JoinHandle<()>,
}

impl FaultyEndpoint {
    pub async fn start(fault: Fault) -> FaultyEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a faulty endpoint");
        let port = listener.local_addr().expect("local addr").port();
        let fault = Arc::new(Mutex::new(fault));
        let held = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(Mutex::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (f, h, a, r) = (fault.clone(), held.clone(), accepted.clone(), heads.clone());
        let task = rocket::tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                *a.lock().unwrap() += 1;
                let (f, h, r) = (f.clone(), h.clone(), r.clone());
                rocket::tokio::spawn(async move { serve(stream, f, h, r).await });
            }
        });
        FaultyEndpoint {
            port,
            fault,
            held,
            accepted,
            heads,
            task,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// The heads (request line and headers) of the requests it read.
    pub fn request_heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    /// How many connections it accepted so far.
    pub fn connections(&self) -> usize {
        *self.accepted.lock().unwrap()
    }
}

impl Drop for FaultyEndpoint {
    fn drop(&mut self) {
        self.task.abort();
        self.held.lock().unwrap().clear();
    }
}

async fn serve(
    mut stream: TcpStream,
    fault: Arc<Mutex<Fault>>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    heads: Arc<Mutex<Vec<String>>>,
) {
    // Reads the request head (bodies of these requests are small forms).
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    heads
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&request).into_owned());
    let mut fault = fault.lock().unwrap().clone();
    loop {
        match fault {
            Fault::NeverAnswers => {
                held.lock().unwrap().push(stream);
                return;
            }
            Fault::Reset => {
                let _ = stream.set_zero_linger();
                return;
            }
            Fault::Late(delay, then) => {
                rocket::tokio::time::sleep(delay).await;
                fault = *then;
            }
            Fault::Answer {
                status,
                content_type,
                body,
            } => {
                let head = format!(
                    "HTTP/1.1 {status} Whatever\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
                return;
            }
        }
    }
}
