"""GRU encoder-decoder (the "sequence to sequence" tutorial's shape, batched): learn to reverse
variable-length runs of digit labels. The encoder reads packed padded sequences; the decoder
uses teacher forcing half the time and greedy ``topk(1)`` decoding otherwise."""

import random

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import optim
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence

from digits_data import load_digits

SOS_token, EOS_token, PAD_token = 10, 11, 12
n_tokens = 13
MAX_LENGTH = 5
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
random.seed(0)
torch.manual_seed(0)

_, labels = load_digits()
labels = labels.tolist()
pairs = []
pos = 0
while pos + MAX_LENGTH < len(labels):
    n = random.randint(2, MAX_LENGTH - 1)
    src = labels[pos:pos + n]
    pairs.append((src, src[::-1]))
    pos += n


def tensors_from_pairs(batch):
    """Pad a batch (longest first, as pack_padded_sequence wants by default)."""
    batch = sorted(batch, key=lambda p: len(p[0]), reverse=True)
    lengths = torch.tensor([len(s) + 1 for s, _ in batch])
    src = pad_sequence([torch.tensor(s + [EOS_token]) for s, _ in batch], batch_first=True,
                       padding_value=PAD_token)
    tgt = pad_sequence([torch.tensor(t + [EOS_token]) for _, t in batch], batch_first=True,
                       padding_value=PAD_token)
    return src.to(device), lengths, tgt.to(device)


class EncoderRNN(nn.Module):
    def __init__(self, input_size, hidden_size):
        super(EncoderRNN, self).__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(input_size, hidden_size, padding_idx=PAD_token)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)

    def forward(self, input, lengths):
        embedded = self.embedding(input)
        packed = pack_padded_sequence(embedded, lengths, batch_first=True)
        _, hidden = self.gru(packed)
        return hidden


class DecoderRNN(nn.Module):
    def __init__(self, hidden_size, output_size):
        super(DecoderRNN, self).__init__()
        self.embedding = nn.Embedding(output_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, output_size)

    def forward_step(self, input, hidden):
        output = F.relu(self.embedding(input))
        output, hidden = self.gru(output, hidden)
        return F.log_softmax(self.out(output), dim=-1), hidden

    def forward(self, encoder_hidden, target_tensor=None, max_len=MAX_LENGTH + 1,
                teacher_forcing_ratio=0.5):
        batch_size = encoder_hidden.size(1)
        decoder_input = torch.empty(batch_size, 1, dtype=torch.long,
                                    device=device).fill_(SOS_token)
        decoder_hidden = encoder_hidden
        decoder_outputs = []
        use_tf = target_tensor is not None and random.random() < teacher_forcing_ratio
        steps = target_tensor.size(1) if target_tensor is not None else max_len
        for i in range(steps):
            decoder_output, decoder_hidden = self.forward_step(decoder_input, decoder_hidden)
            decoder_outputs.append(decoder_output)
            if use_tf:
                decoder_input = target_tensor[:, i].unsqueeze(1)  # Teacher forcing
            else:
                _, topi = decoder_output.topk(1)
                decoder_input = topi.squeeze(-1).detach()  # its own prediction as next input
        return torch.cat(decoder_outputs, dim=1), decoder_hidden


hidden_size = 32
encoder = EncoderRNN(n_tokens, hidden_size).to(device)
decoder = DecoderRNN(hidden_size, n_tokens).to(device)
encoder_optimizer = optim.Adam(encoder.parameters(), lr=0.02)
decoder_optimizer = optim.Adam(decoder.parameters(), lr=0.02)
criterion = nn.NLLLoss(ignore_index=PAD_token)

losses = []
batch_size = 32
for epoch in range(1, 4):
    random.shuffle(pairs)
    for i in range(0, len(pairs) - batch_size + 1, batch_size):
        input_tensor, lengths, target_tensor = tensors_from_pairs(pairs[i:i + batch_size])
        encoder_optimizer.zero_grad()
        decoder_optimizer.zero_grad()
        encoder_hidden = encoder(input_tensor, lengths)
        decoder_outputs, _ = decoder(encoder_hidden, target_tensor)
        loss = criterion(decoder_outputs.view(-1, decoder_outputs.size(-1)),
                         target_tensor.view(-1))
        loss.backward()
        encoder_optimizer.step()
        decoder_optimizer.step()
        losses.append(loss.item())
    print("epoch %d loss %.4f" % (epoch, sum(losses[-10:]) / 10))


def evaluate(sequence):
    with torch.no_grad():
        src, lengths, _ = tensors_from_pairs([(sequence, sequence[::-1])])
        decoder_outputs, _ = decoder(encoder(src, lengths))
        _, topi = decoder_outputs.topk(1)
        decoded = []
        for idx in topi.squeeze().tolist():
            if idx == EOS_token:
                break
            decoded.append(idx)
        return decoded


encoder.eval()
decoder.eval()
for src, tgt in pairs[:3]:
    print(src, "->", evaluate(src), "expected", tgt)
