// Placeholder: implemented by the chunk_reader module work.
#pragma once
