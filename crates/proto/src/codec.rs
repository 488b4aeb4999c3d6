//! The codec of the generated service: prost's, except that a message that fails to decode is
//! InvalidParameterException / INVALID_ARGUMENT instead of tonic's INTERNAL. A malformed request
//! (bad field encoding, invalid UTF-8 in a string, a truncated length) is the client's fault,
//! and the server's error table (`logsight-server`'s `error.rs`) names it so. The generated
//! client shares the codec, so a malformed *response* would also read INVALID_ARGUMENT; a
//! server never sends one. Tested end to end by the integration tests (`server_hardening`).

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// The codec named by `build.rs` for every method.
#[derive(Debug, Clone, Copy)]
pub struct LogsCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for LogsCodec<T, U> {
    fn default() -> Self {
        LogsCodec(PhantomData)
    }
}

impl<T, U> Codec for LogsCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = LogsDecoder<U>;

    fn encoder(&mut self) -> ProstEncoder<T> {
        ProstCodec::<T, U>::default().encoder()
    }

    fn decoder(&mut self) -> LogsDecoder<U> {
        LogsDecoder(ProstCodec::<T, U>::default().decoder())
    }
}

/// prost's decoder with malformed messages reported as the sender's fault.
#[derive(Debug)]
pub struct LogsDecoder<U>(ProstDecoder<U>);

impl<U: Message + Default> Decoder for LogsDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|s| {
            Status::invalid_argument(format!(
                "InvalidParameterException: malformed protobuf message: {}",
                s.message()
            ))
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}
