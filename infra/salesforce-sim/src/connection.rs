//! The simulator's listener: plain TCP, except that a request handler can cut its own connection
//! so the client gets no response at all (the reset, timeout and lost-response faults).
//!
//! Each accepted stream shares a flag with a [`Connection`] handle that handlers receive through
//! axum's `ConnectInfo`. Once the flag is set, every read and write on the stream fails, so hyper
//! drops the connection instead of writing the response; with [`Connection::reset`] the socket is
//! closed with an RST rather than a FIN.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

const OPEN: u8 = 0;
const CLOSE: u8 = 1;
const RESET: u8 = 2;

/// Accepts TCP connections and wraps them in [`SimStream`].
#[derive(Debug)]
pub(crate) struct SimListener {
    inner: TcpListener,
}

impl SimListener {
    pub(crate) fn new(inner: TcpListener) -> Self {
        Self { inner }
    }
}

impl Listener for SimListener {
    type Io = SimStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // axum's own accept loop (it retries and backs off on errors such as EMFILE).
        let (stream, addr) = Listener::accept(&mut self.inner).await;
        let _ = stream.set_nodelay(true);
        (SimStream { inner: stream, cut: Arc::new(AtomicU8::new(OPEN)) }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The handler's side of one connection.
#[derive(Clone, Debug)]
pub(crate) struct Connection {
    cut: Arc<AtomicU8>,
}

impl Connection {
    /// The response (and anything after it) is never written; the socket is closed (FIN).
    pub(crate) fn close(&self) {
        let _ = self.cut.compare_exchange(OPEN, CLOSE, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// Like [`Self::close`], but the socket is reset (RST).
    pub(crate) fn reset(&self) {
        self.cut.store(RESET, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, SimListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        Self { cut: stream.io().cut.clone() }
    }
}

/// A TCP stream that fails every operation once its connection is cut.
#[derive(Debug)]
pub(crate) struct SimStream {
    inner: TcpStream,
    cut: Arc<AtomicU8>,
}

impl SimStream {
    fn check(&self) -> io::Result<()> {
        match self.cut.load(Ordering::SeqCst) {
            OPEN => Ok(()),
            RESET => {
                // Zero linger: closing the socket sends RST.
                let _ = self.inner.set_zero_linger();
                Err(io::ErrorKind::ConnectionReset.into())
            }
            _ => Err(io::ErrorKind::ConnectionAborted.into()),
        }
    }
}

impl AsyncRead for SimStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
