//! A tiny HTTP/1.1 server standing in for Loki or Elasticsearch: it records every request
//! and answers what the test tells it to (so it can be down, refuse or half-accept).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST`, ….
    pub method: String,
    /// The path.
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    /// The body as sent (still gzip when it was).
    pub body: Vec<u8>,
    /// The status the fake answered.
    pub status: u16,
}

impl Request {
    /// The body, gunzipped when `Content-Encoding: gzip`.
    pub fn decoded(&self) -> Vec<u8> {
        if self.headers.get("content-encoding").map(String::as_str) != Some("gzip") {
            return self.body.clone();
        }
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&self.body[..])
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }
}

/// Decides the answer to a request: status and body.
pub type Responder = Box<dyn FnMut(&Request) -> (u16, String) + Send>;

/// A running fake destination.
pub struct Fake {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Every request received, in order.
    requests: Arc<Mutex<Vec<Request>>>,
    /// The current answer.
    responder: Arc<Mutex<Responder>>,
}

impl Fake {
    /// Starts a fake answering with `responder`.
    pub fn start(responder: Responder) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let responder = Arc::new(Mutex::new(responder));
        let (reqs, resp) = (requests.clone(), responder.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (reqs, resp) = (reqs.clone(), resp.clone());
                std::thread::spawn(move || serve(stream, &reqs, &resp));
            }
        });
        Fake {
            url,
            requests,
            responder,
        }
    }

    /// Changes the answer from now on.
    pub fn respond(&self, responder: Responder) {
        *self.responder.lock().unwrap() = responder;
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// Answers every request with `status` and an empty JSON object.
pub fn always(status: u16) -> Responder {
    Box::new(move |_| (status, "{}".into()))
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<Request>>, responder: &Mutex<Responder>) {
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let mut request = request;
        let (status, body) = (responder.lock().unwrap())(&request);
        request.status = status;
        requests.lock().unwrap().push(request);
        let head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        if writer
            .write_all(head.as_bytes())
            .and_then(|()| writer.write_all(body.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
        status: 0,
    })
}
