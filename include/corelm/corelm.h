// corelm's public API in one include: models and sessions, tensors and their ops, tokenizers,
// chat templates, generation, conversion, errors and the log callback.
#pragma once

#include "corelm/chat.h"
#include "corelm/convert.h"
#include "corelm/error.h"
#include "corelm/generate.h"
#include "corelm/log.h"
#include "corelm/model.h"
#include "corelm/tensor.h"
#include "corelm/tokenizer.h"
